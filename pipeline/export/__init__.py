"""Exports of trained models for fast inference: ONNX int8 heads, GGUF generative models."""
