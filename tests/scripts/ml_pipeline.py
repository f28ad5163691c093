"""One pyspark.ml pipeline, run as users write it: RegexTokenizer -> Word2Vec -> fit -> transform
-> findSynonyms -> PipelineModel save and load. tests/spark/test_estimator.py runs it twice, changing
only the Word2Vec import line, on a classic and on a Spark Connect session, and compares what it
prints (JSON: column names and types, synonyms, row counts)."""

import json
import os
import sys
from typing import Any

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import RegexTokenizer
from pyspark.ml.feature import Word2Vec  # the line the test replaces
from pyspark.sql import SparkSession

corpus, workdir, connect = sys.argv[1], sys.argv[2], sys.argv[3] == "connect"
builder = SparkSession.builder.remote("local[2]") if connect else SparkSession.builder.master("local[2]")
spark = builder.config("spark.ui.enabled", "false").getOrCreate()

docs = spark.read.text(corpus)
tokenizer = RegexTokenizer(inputCol="value", outputCol="words", pattern=r"\W+", minTokenLength=1)
w2v = Word2Vec(inputCol="words", outputCol="features", vectorSize=16, minCount=3, maxIter=2, seed=7, numPartitions=1)
model = Pipeline(stages=[tokenizer, w2v]).fit(docs)
out = model.transform(docs)
w2v_model: Any = model.stages[-1]
synonyms = w2v_model.findSynonyms("kernel", 5)
vectors = w2v_model.getVectors()
path = os.path.join(workdir, "pipeline-model")
model.write().overwrite().save(path)
model.write().overwrite().save(path)  # twice: overwrite replaces
loaded = PipelineModel.load(path)
again = loaded.transform(docs)
before = [r["features"].toArray().tolist() for r in out.orderBy("value").limit(20).collect()]
after = [r["features"].toArray().tolist() for r in again.orderBy("value").limit(20).collect()]
print(
    json.dumps(
        {
            "transform": [[f.name, f.dataType.simpleString()] for f in out.schema.fields],
            "synonyms": [[f.name, f.dataType.simpleString()] for f in synonyms.schema.fields],
            "synonym_rows": synonyms.count(),
            "synonym_words": [r["word"] for r in synonyms.collect()],
            "vectors": [[f.name, f.dataType.simpleString()] for f in vectors.schema.fields],
            "vector_rows": vectors.count(),
            "array": [[w, round(float(s), 4)] for w, s in w2v_model.findSynonymsArray("kernel", 3)],
            "loaded_stages": [type(s).__name__ for s in loaded.stages],
            "loaded_same": before == after,
            "rows": out.count(),
            "vector_size": w2v_model.getVectorSize(),
        }
    )
)
spark.stop()
