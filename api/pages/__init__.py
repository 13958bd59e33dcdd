"""Server-rendered web pages (Jinja2): the customer portal, the staff console and the analyst page."""
