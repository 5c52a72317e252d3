"""Churn early-warning workbench: ``streamlit run app.py`` (the pages live in churn_app/)."""

from churn_app.main import main

main()
