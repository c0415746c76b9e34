"""Record the contract topics of a prefix and replay them, comparing the answers.

Pure modules (no Kafka, Faust or click; `lint-imports` checks it):
`recording` (the file format, kcat -J import), `plan` (epochs that pin each
request to the config version it saw), `compare` (the answer rules),
`offline` (the replay through the pure handler) and `report` (the summary).
`kafka` and `process` are the shell: read the topics, publish in epochs,
collect answers, run a worker subprocess.
"""
