"""Bidirectional customer-data sync: local leads, three-way merge, pull and push per Site."""
