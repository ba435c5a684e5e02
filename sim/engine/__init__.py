"""The discrete-event machinery that runs a scenario: producer, broker, workers, backend, draws."""
