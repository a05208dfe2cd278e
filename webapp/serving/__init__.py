"""Models you can ship (DESIGN §3b): the model registry, releases, exports and the prediction API."""
