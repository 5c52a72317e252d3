"""Entry script for the installed package (`churn app` runs it with Streamlit)."""

from churn_app.main import main

main()
