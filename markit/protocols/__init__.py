"""The wire protocols an archive answers, as pure functions over request bodies: ``codec`` (KServe v1
and the Open Inference Protocol v2 in JSON), ``triton_binary`` (Triton's binary tensor extension of v2),
``routing`` (which protocol a request speaks, its instances, and its answer or error in that protocol)
and ``typed_outputs`` (each task's answer as v2 tensors). Travels inside every archive; imports no engine."""
