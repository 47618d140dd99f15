"""Local Salesforce-compatible server."""
