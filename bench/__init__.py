"""llmcfg's benchmarks: `python -m bench` (or `make bench`) runs them and rewrites docs/benchmarks.md.

Modules: upstream (the bench upstream on loopback), seed (its database), served (the production
serve command as a child process), client and load (the clients), one module per figure
(failover, relay_cost, streams, catalog, queries), levels (one level of the concurrency figure),
bare_relay (the floors under it: copying, and parsing into the app's events), layers and
layers_gevent (a token's CPU, layer by layer), profile (py-spy over the served workers, and a
chat's start), capacity (the note on a missed concurrency target), peers (LiteLLM and the openai
SDK), report.
"""
