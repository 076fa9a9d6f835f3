"""The website: FastAPI + Jinja2, server-rendered."""
