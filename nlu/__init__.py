"""Rasa-side NLU components: pretrained sentence embeddings for the classifier.

``nlu.encoder`` loads the embedding model and encodes texts without Rasa;
``nlu.embedding_featurizer`` is the Rasa graph component named in config.yml.
"""
