"""wagtail-salesforce: connect Wagtail sites to Salesforce."""

__version__ = "0.1.0"
