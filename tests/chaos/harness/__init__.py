"""The chaos harness: system (processes and servers), faults (seeded schedule), workload, checker."""
