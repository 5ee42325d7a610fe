package wasmhost

// The hook fixtures: hand-written WAT beside the .wasm wat2wasm (Debian wabt) makes of
// it; TestWatFixturesMatchWasm fails when one is stale.
//go:generate sh -c "cd ../testdata/wasm && for f in *.wat; do wat2wasm $f -o ${f%.wat}.wasm; done"
