"""Workloads: what is asked of the model (a batch of requests, a training run) and the
end-to-end figures that follow (latency, throughput, utilisation, cost)."""
