# `make run` starts the whole platform on embedded defaults; `make test` runs the test suite.
# Both install what they need (uv, then the locked dependencies) on a fresh machine with Python 3.11+.
UV := scripts/uv.sh

.PHONY: run test lint sync bench widget

sync:
	$(UV) sync --frozen

# The web chat widget (widget/dist), rebuilt when missing or older than its sources.
widget:
	scripts/build-widget.sh

run: sync widget
	$(UV) run metachat run

test: sync widget
	scripts/chromium.sh
	$(UV) run pytest

lint: sync
	$(UV) run ruff check src tests bench migrations
	$(UV) run ruff format --check src tests bench migrations
	$(UV) run mypy
