"""Helpers of the Streamlit app (``app.py``): charts and pages. Nothing here imports ``live``."""
