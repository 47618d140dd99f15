"""Settings → Salesforce: the per-Site connection panel, Connect, the OAuth callback."""
