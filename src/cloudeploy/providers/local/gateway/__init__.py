"""The local endpoint gateway: a process per endpoint that splits traffic and supervises replicas."""
