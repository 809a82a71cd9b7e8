"""Shared fixtures for the vocabguard test suite."""

from __future__ import annotations

import os

# Before any test module imports TensorFlow: keep its C++ logging quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from vocabguard import VocabStore

# The markers of pytest.ini, applied here rather than in each file: `make test-fast`
# (-m "not jvm and not cluster and not slow") is the quick loop, `make test` runs all.
JVM_FILES = {"test_runners_jvm.py"}
CLUSTER_FIXTURES = {"dask_cluster", "job_service", "spark_cluster", "endpoint"}
# Measured (CPU seconds of the test and its subprocesses) on the 2-core VM: files and
# tests of more than a few seconds each: Beam on several workers or splits, property
# tests through TensorFlow, training runs, TensorFlow or Beam imported in subprocesses.
SLOW_FILES = {
    "test_beam_splits.py",  # 37 s: 1 and 2 workers, byte-range splits
    "test_categorical_beam.py",  # 16 s
    "test_serving.py",  # 31 s: SavedModel exports of trained models
    "test_lineage_pipeline.py",  # trains on every step of a lineage
    "test_training.py",  # end-to-end training runs
}
SLOW_TESTS = {  # test function names (any parameters), 10 s and more under load
    "test_encoder_survives_saved_model_export",  # 22 s alone (a SavedModel export)
    "test_property_arrow_path_equals_record_path",  # 9 s alone
    "test_property_sharding_does_not_change_the_vocabulary",  # 8 s alone
    "test_token_index_runs_find_every_key_as_index_in_does",  # 116 s alone (forced collisions)
    "test_tf_encoder_matches_numpy_on_lists",  # 50 s
    "test_config_driven_table_job",  # 10 s
    "test_build_vocabularies_matches_in_process_whatever_the_worker_count",  # 19 s
    "test_beam_and_in_process_builds_agree_on_random_corpora",  # 8 s
    "test_importing_tensorflow_from_the_cli_prints_nothing",  # 24 s
    "test_train_stderr_holds_only_vocabguard_lines_and_output_overrides",  # 20 s
    "test_job_config_without_runner_runs_on_the_direct_runner",  # 4 s
    "test_console_script_build_inspect_encode",  # 4 s
    "test_the_cli_without_any_extra_builds_encodes_and_audits",  # 4 s
    "test_to_dict_from_dict_round_trip",  # 4 s
    "test_docs_and_readme_blocks_pass_on_a_generated_corpus",  # every docs and README block
    # Measured under load (2 workers, load average ~15): 10 s or more each; the
    # quick loop keeps the rest (under 2 minutes alone).
    "vocabguard._src.engines.serving",  # serving.py
    "test_bad_records_fail_in_build_vocabularies",  # test_beam.py
    "test_build_vocabularies_matches_in_process_whatever_the_sharding",  # test_beam.py
    "test_memory_bounds_do_not_change_the_vocabulary",  # test_beam.py
    "test_read_record_batches_formats",  # test_beam.py
    "test_imported_bert_vocab_gives_bert_tokenizer_fast_ids",  # test_bert_basic.py
    "test_random_text_with_specials_gives_bert_tokenizer_fast_ids",  # test_bert_basic.py, 41 s
    "test_real_multilingual_text_gives_bert_tokenizer_fast_ids",  # test_bert_basic.py, 30 s
    "test_pre_tokenizer_twins_agree_on_any_unicode_with_specials",  # test_bert_basic.py, 21 s
    "test_weighted_build_is_independent_of_order_and_batching",  # test_categorical.py
    "test_unsafe_vocab_txt_lines_found_over_the_column_as_one_by_one",  # test_columnar.py
    "test_every_lineage_step_keeps_ids",  # test_diff.py
    "test_a_command_without_its_extra_is_one_line_naming_the_extra",  # test_extras.py
    "test_beam_build_stderr_holds_only_vocabguard_lines",  # test_first_hour.py
    "test_eager_raises_our_error",  # test_guard_backends.py
    "test_guard_raises_iff_an_id_is_outside_the_range",  # test_guard_backends.py
    "test_a_huge_decompressed_line_is_a_bad_record_read_in_bounded_memory",  # test_hostile_input.py
    "test_record_with_a_million_keys_gets_a_short_error",  # test_hostile_input.py
    "test_concurrent_publishers_of_different_content_lose_nothing",  # test_housekeeping.py
    "test_gc_keeps_the_latest_the_pinned_and_the_newest_n",  # test_housekeeping.py
    "test_gc_while_publishing_and_reading_in_other_processes",  # test_housekeeping.py
    "test_tf_module_loads_tensorflow_on_demand",  # test_imports.py
    "test_property_columnar_equals_beam",  # test_inprocess_job.py
    "test_record_path_without_beam_names_the_extra",  # test_inprocess_job.py
    "test_records_path_matches_beam_jsonl_and_text_features",  # test_inprocess_job.py
    "test_compressed_inputs_read_alike_on_every_path",  # test_input_integrity.py
    "test_a_job_whose_second_feature_fails_prints_one_error_line",  # test_job_atomic.py
    "test_kill_9_at_each_step_of_the_commit",  # test_job_atomic.py
    "test_kill_9_at_each_write_of_the_job",  # test_job_atomic.py
    "test_cli_build_with_runner_prints_the_refs_last",  # test_jobs.py
    "test_run_encode_parquet_schema_metadata_and_ids",  # test_jobs.py
    "test_tfrecord_output_trains_a_keras_model_through_tf_data",  # test_jobs.py
    "test_count_in_fit_and_reset",  # test_keras.py
    "test_embedding_from_a_vocabguard_artifact_over_the_same_data_fits",  # test_keras.py
    "test_jit_compiled_keras_model_raises_in_fit_and_predict",  # test_keras.py
    "test_property_ids_and_selection",  # test_layout.py
    "test_lineage_keeps_ids_and_never_reuses",  # test_lineage.py
    "test_migrated_text_vectorization_model_predicts_the_same",  # test_migrate_keras.py
    "test_string_lookup_without_mask_moves_every_row",  # test_migrate_keras.py
    "test_text_vectorization_model_imports_with_identical_ids",  # test_migrate_keras.py
    "test_lineage_migration_gives_identical_outputs_on_v1_texts",  # test_migration.py
    "test_plain_embedding_needs_from_and_becomes_a_vocab_embedding",  # test_migration.py
    "test_rebuild_with_moved_ids_keeps_outputs_on_shared_tokens",  # test_migration.py
    "test_two_vocabularies_only_the_one_being_replaced_moves",  # test_migration.py
    "test_inside_tf_data",  # test_output_modes.py
    "test_numpy_and_tf_agree_and_count_every_token",  # test_output_modes.py
    "test_oov_lands_in_column_zero_and_sequence_length_does_not_cut",  # test_output_modes.py
    "test_text_rows_equal_text_vectorization",  # test_output_modes.py
    "test_inprocess_runner_and_beam_agree_with_the_options",  # test_peer_options.py
    "test_integer_pad_in_process_equals_beam",  # test_peer_options.py
    "test_rows_move_by_token",  # test_remap.py
    "test_repair_resizes_reports_the_data_and_passes_check_model",  # test_repair.py
    "test_direct_runner_two_worker_processes",  # test_runners.py
    "test_tokens_equal_keras_text_vectorization",  # test_standardize.py
    "test_concurrent_publishers_get_distinct_versions",  # test_store.py
    "test_killed_publisher_leaves_the_store_consistent",  # test_store.py
    "test_processes_that_publish_and_load_exit_cleanly",  # test_store.py
    "test_beam_build_and_encode_jobs_with_ngrams_match_in_process",  # test_text_beam.py
    "test_beam_jobs_with_wordpiece_encode_like_numpy_and_grow_a_lineage",  # test_text_beam.py
    "test_document_rules_give_one_fingerprint_on_beam_and_in_process",  # test_text_beam.py
    "test_wordpiece_learned_from_beam_word_counts_has_the_in_process_fingerprint",  # test_text_beam.py
    "test_arrow_and_tf_ngrams_agree_on_arbitrary_unicode",  # test_text_tf.py
    "test_ngram_ids_equal_keras_text_vectorization_and_tf_data",  # test_text_tf.py
    "test_graph_mode_raises_with_the_same_text",  # test_tf_parity.py
    "test_invalid_utf8_is_replaced_the_same_way_on_both_paths",  # test_tf_parity.py
    "test_keras_string_lookup_from_vocab_txt_matches_vocabguard",  # test_tf_parity.py
    "test_numpy_and_tf_data_encoders_agree",  # test_tf_parity.py
    "test_python_and_tf_tokenizers_agree_on_arbitrary_unicode",  # test_tf_parity.py
    "test_unicode_script_numpy_path_uses_the_same_ops",  # test_tf_parity.py
    "test_every_code_point_gives_the_same_token_on_both_paths",  # test_unicode_parity.py
    "test_learned_from_random_unicode_both_paths_agree",  # test_wordpiece.py
    "test_learner_gives_tf_texts_vocabulary",  # test_wordpiece.py
    "test_numpy_and_tf_data_give_identical_ids_on_three_scripts",  # test_wordpiece.py
    "test_numpy_and_tf_encoders_agree_on_arbitrary_unicode",  # test_wordpiece.py
    "test_parent_pieces_keep_their_ids_and_new_pieces_are_appended",  # test_wordpiece.py
    "test_pre_tokenizer_is_the_same_on_both_paths",  # test_wordpiece.py
    "test_sequence_length_and_saved_model_export",  # test_wordpiece.py
    "test_keras_hub_loads_only_on_first_use",  # test_wordpiece_keras.py
    "test_same_ids_as_numpy_and_tf_data_on_three_scripts",  # test_wordpiece_keras.py
    "test_same_ids_on_arbitrary_unicode",  # test_wordpiece_keras.py
    "test_sequence_length_pads_with_zero_and_truncates",  # test_wordpiece_keras.py
    "test_without_keras_hub_the_error_names_the_extra",  # test_wordpiece_keras.py
    "test_migrate_model_moves_rows_by_piece",  # test_wordpiece_tools.py
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        file = item.path.name
        if file in JVM_FILES:
            item.add_marker(pytest.mark.jvm)
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)
        name = getattr(item, "originalname", item.name)
        if file in SLOW_FILES or name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def store_root(tmp_path):
    """The root directory of a fresh store (a subdirectory, so tests can look outside it)."""
    return tmp_path / "store"


@pytest.fixture
def store(store_root):
    """A fresh, empty ``VocabStore`` under ``tmp_path``."""
    return VocabStore(store_root)
