"""Ray Serve applications: the FastAPI ingress (`deployments.api`) and the model deployments."""
