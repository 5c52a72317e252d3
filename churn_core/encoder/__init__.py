"""Sequence encoders that sit inside the scikit-learn Pipeline.

- ``estimator``: ``BehaviorEncoder``, the behaviour Transformer (sklearn API, persistence)
- ``nn``: its torch model (a ``BertModel`` built from a config, never downloaded)
- ``training``: its self-supervised pre-training and supervised fine-tuning loops
- ``text``: ``TextSequenceEncoder``, a pretrained text model from a local folder

Nothing is imported here so that ``import churn_core`` does not pay for torch.
"""
