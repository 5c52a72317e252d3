"""Outcomes: what a campaign achieved, measured against its control group."""

from __future__ import annotations

import streamlit as st

st.title("Outcomes")
