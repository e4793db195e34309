"""Load on a served model and what it measured: a closed loop (``wrk``), an open loop at a fixed arrival rate
(``openloop``, no coordinated omission), the request body they send (``body``), latency percentiles and one
run's result (``stats``), and who kept the cores busy meanwhile (``cpu``).

``markit capacity`` confirms its prediction with them, and the checkout's ``benchmarks`` measure with them.
Nothing is imported here."""
