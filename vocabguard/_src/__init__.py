"""vocabguard's implementation; the public API is ``vocabguard`` and its face modules.

The folders are the layers, and imports flow one way (a test enforces it)::

    core     the id contract: errors, spec, layout, tokenizer, vocabulary, builder,
             artifact, store, guard. Imports nothing else of vocabguard.
    engines  where ids are computed at scale or consumed: tf, keras, beam, jobs,
             readers, records, training, serving. Imports core.
    tools    work on published artifacts and saved models: audit, report, diff,
             remap, migration, repair, model_check. Imports core and engines.

Above them, the public faces (``vocabguard``, ``vocabguard.tf``, ``vocabguard.keras``,
``vocabguard.beam``, ``vocabguard.serving``, ``vocabguard.remap``,
``vocabguard.errors``) re-export, and ``vocabguard.cli`` sits on top of everything.
"""
