"""Tests of the local Salesforce-compatible sandbox."""
