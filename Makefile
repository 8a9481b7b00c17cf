# Thin wrapper over CMake so the README's two commands are `make run` and `make test`.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)

.PHONY: all build deps run test test-unit test-api bench clean format lint

all: build

# Installs what is missing: Debian packages (apt-get) and npm packages (npm ci).
deps:
	@bash scripts/deps.sh

build: node_modules/swagger-ui-dist/package.json
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target armor

node_modules/swagger-ui-dist/package.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

run: deps build
	./$(BUILD)/armor serve

# The whole suite: unit and API tests under ASan+UBSan, on SQLite and on PostgreSQL (scripts/test.sh runs deps first).
test:
	@bash scripts/test.sh

bench: deps
	@bash bench/run.sh

lint:
	@bash scripts/lint.sh

format:
	@clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-release
