"""The HTTP side of dongflow: the JSON API (``web/api.py``) and the pages (``web/pages.py``), one
FastAPI application (``web/app.py``) over the same scoped service layer as the CLI."""
