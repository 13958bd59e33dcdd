"""Knowledge-warehouse ingest: connectors that validate, resolve and load source files into the graph.

Not built yet (issue 3). Until it lands, `kbcrm load-demo` (kbcrm.demo.load) loads the
generated demo data set straight through the store interface.
"""
