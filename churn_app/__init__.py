"""The dashboard (Streamlit): entry, pages, session state, forms and plotly figure builders."""
