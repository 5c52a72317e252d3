"""Widget groups that edit a copy of the ChurnConfig (no training happens here)."""

from __future__ import annotations

import streamlit as st

from churn_core.config import CLASSIFIERS, ENCODERS, ChurnConfig, SchemaConfig
from churn_core.fields import MAPPING_FIELDS, mapping_field
from churn_core.layouts import DetectedSchema

C_VALUES = (0.001, 0.003, 0.01, 0.02, 0.05, 0.1, 0.3, 1.0, 3.0, 10.0)


def label_widgets(cfg: ChurnConfig, event_types: list[str]) -> ChurnConfig:
    """Churn definition: horizon, activity event types, eligibility, cutoffs."""
    spec = cfg.label
    c = st.columns([2, 3, 2, 1])
    horizon = c[0].slider(
        "Horizon (days without activity = churn)", 7, 180, spec.horizon_days, key="horizon"
    )
    default = [e for e in (spec.activity_events or event_types) if e in event_types]
    if spec.activity_events is None:
        default = [e for e in default if e not in ("cancel", "return", "refund")] or event_types
    acts = c[1].multiselect("Events that count as activity", event_types, default, key="acts")
    within = c[2].number_input(
        "Eligible: active within N days before cutoff (0 = any)",
        0,
        365,
        spec.active_within_days or 0,
        key="within",
    )
    n_cut = c[3].number_input("Cutoffs", 1, 12, spec.n_cutoffs, key="n_cutoffs")
    return cfg.with_(
        label={
            "horizon_days": int(horizon),
            "activity_events": tuple(acts) if acts else None,
            "active_within_days": int(within) or None,
            "n_cutoffs": int(n_cut),
        }
    )


def model_widgets(cfg: ChurnConfig) -> ChurnConfig:
    """Classifier, hyperparameters and encoder settings (inside the training form)."""
    m, e = cfg.model, cfg.encoder
    c = st.columns(4)
    clf = c[0].selectbox("Classifier", CLASSIFIERS, CLASSIFIERS.index(m.classifier), key="clf")
    C = c[1].select_slider(
        "Regularisation C (logreg/svm)", C_VALUES, m.C if m.C in C_VALUES else 0.02, key="C"
    )
    folds = c[2].slider("CV folds", 2, 10, m.cv_folds, key="cv_folds")
    depth = c[3].slider("Max depth (hgb/rf)", 2, 12, m.max_depth or 4, key="depth")
    c = st.columns(4)
    lr = c[0].select_slider(
        "Learning rate (hgb)",
        (0.01, 0.02, 0.05, 0.1, 0.2, 0.3),
        m.learning_rate if m.learning_rate in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3) else 0.05,
        key="lr",
    )
    trees = c[1].slider("Trees / iterations (hgb/rf)", 50, 1000, m.n_estimators, 50, key="trees")
    enc = c[2].selectbox("Sequence encoder", ENCODERS, ENCODERS.index(e.kind), key="enc")
    balanced = c[3].checkbox("Balanced class weights", m.class_weight == "balanced", key="bal")
    with st.expander("Encoder size and training (only used when an encoder is chosen)"):
        c = st.columns(4)
        hidden = c[0].select_slider("Hidden size", (32, 64, 128, 256), e.hidden_size, key="hid")
        layers = c[1].slider("Layers", 1, 6, e.num_layers, key="layers")
        epochs = c[2].slider("Epochs", 1, 20, e.epochs, key="epochs")
        max_ev = c[3].select_slider(
            "Max events per user", (32, 64, 128, 256, 512), e.max_events, key="max_ev"
        )
        finetune = st.slider(
            "Fine-tune epochs on the churn label (0 = self-supervised only; early stopping)",
            0,
            20,
            e.finetune_epochs,
            key="finetune",
        )
    return cfg.with_(
        model={
            "classifier": clf,
            "C": float(C),
            "cv_folds": int(folds),
            "max_depth": int(depth),
            "learning_rate": float(lr),
            "n_estimators": int(trees),
            "class_weight": "balanced" if balanced else None,
        },
        encoder={
            "kind": enc,
            "hidden_size": int(hidden),
            "num_layers": int(layers),
            "num_heads": 2,
            "epochs": int(epochs),
            "max_events": int(max_ev),
            "finetune_epochs": int(finetune),
        },
    )


AUTO = "(auto / none)"
CONFIDENCE_BADGE = {"given": "✔ given", "high": "✔ sure", "medium": "◐ likely", "low": "⚠ unsure"}


def guess_caption(det: DetectedSchema, field: str) -> str:
    """What detection made of ``field`` and how sure it is, for under its selectbox."""
    guess = det.guess(field)
    if guess is None:
        return "not found"
    if guess.ambiguous:
        return f"⚠ pick one: {', '.join(guess.candidates)}"
    if guess.column is None:
        return "not found"
    return f"{CONFIDENCE_BADGE.get(guess.confidence, guess.confidence)}: {guess.evidence}"


def mapping_form(columns: list[str], det: DetectedSchema) -> SchemaConfig | None:
    """The mapping box: one selectbox per row of the mapping-field table, pre-filled with the
    detected column, its confidence and evidence under it. Returns the analyst's schema when
    the form is submitted, else None."""
    cols = [AUTO, *columns]
    with st.form("mapping"):
        st.markdown(
            f"**Column mapping** (detected layout: `{det.layout}`). Check each guess and how "
            "sure it is; change any that is wrong, then validate."
        )
        grid = st.columns(3)
        chosen: dict[str, str] = {}
        column_fields = [f for f in MAPPING_FIELDS if f.is_column]
        for i, f in enumerate(column_fields):
            current = getattr(det, f.name)
            idx = cols.index(current) if current in cols else 0
            box = grid[i % 3]
            chosen[f.name] = box.selectbox(
                f.label + (" *" if f.required else ""),
                cols,
                index=idx,
                key=f"map_{f.name}",
                help=f"{f.help}. Detection looks for {f.content or 'known names'}.",
            )
            box.caption(guess_caption(det, f.name))
        left, mid, right = st.columns(3)
        fmt = mapping_field("time_format")
        time_format = left.text_input(
            fmt.label,
            value="",
            placeholder=f"detected: {det.time_format or 'read from the values'}",
            key="map_time_format",
            help=fmt.help,
        )
        year = mapping_field("year")
        year_value = mid.number_input(
            f"{year.label} (0 = auto)", 0, 2100, 0, key="map_year", help=year.help
        )
        names = mapping_field("event_map")
        detected_map = " ".join(f"{k}={v}" for k, v in det.event_map)
        event_map_text = right.text_input(
            f"{names.label} (RAW=NAME ...)",
            value="",
            placeholder=f"detected: {detected_map}" if detected_map else "e.g. 0=view 1=purchase",
            key="map_event_map",
            help=names.help,
        )
        if not st.form_submit_button("Validate with this mapping"):
            return None
    pairs = [p.partition("=") for p in event_map_text.replace(",", " ").split()]
    bad = [a + s + b for a, s, b in pairs if not (s and a and b)]
    if bad:
        st.error(f"Event names must look like RAW=NAME (e.g. 0=view); not {', '.join(bad)}.")
        return None
    fields = {k: (None if v == AUTO else v) for k, v in chosen.items()}
    return SchemaConfig(
        **fields,  # type: ignore[arg-type]
        time_format=time_format.strip() or None,
        year=int(year_value) or None,
        event_map=tuple((a, b) for a, _, b in pairs),
    )
