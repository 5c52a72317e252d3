"""Streamlit-side helpers: session state, cached loading and plotly figure builders."""
