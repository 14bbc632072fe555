"""Open Inference Protocol v2 (KServe / Triton): its router and tensor codec."""
