"""Engines and integrations: TensorFlow, Keras, Beam, file formats, training, serving.

Imports ``core`` only (and each other without cycles).
"""
