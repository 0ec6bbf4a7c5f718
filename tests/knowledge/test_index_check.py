"""The course index's doctor check: pass, missing, built by another embedder."""

from bot.app import index_probe
from knowledge.service import check_index
from tests.knowledge.conftest import knowledge_settings


async def test_an_ingested_course_passes(course_settings):
    (result,) = await check_index(course_settings)
    assert result.status == "pass" and "built with sentence-transformers/" in result.detail
    assert index_probe(course_settings) is not None


async def test_a_missing_index_says_how_to_build_it(tmp_path):
    (result,) = await check_index(knowledge_settings(tmp_path))
    assert result.status == "warn" and result.fix == "run `tutor ingest course`"


async def test_another_embedder_is_a_failure_with_the_reindex_fix(course_settings):
    other = course_settings.model_copy(
        update={
            "knowledge": course_settings.knowledge.model_copy(
                update={"embedder": "ollama", "embedding_model": "nomic-embed-text"}
            )
        }
    )
    (result,) = await check_index(other)
    assert result.status == "fail" and result.fix == "run `tutor ingest course --reindex`"
    assert "ollama/nomic-embed-text" in result.detail
