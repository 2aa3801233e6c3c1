"""Running Kapstone in production: ``kapstone serve`` (gunicorn), request ids, structured logs
and the operators' metrics endpoint. docs/deployment.md says how to use them."""
