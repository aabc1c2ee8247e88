//! Points the embed at `web/dist` (the Vite production build) when it exists, or at a
//! one-page placeholder that says how to build the UI, so a checkout without Node still
//! compiles and serves the API.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let web = manifest.join("../../web");
    let dist = web.join("dist");
    let built = dist.join("index.html").is_file();
    // Built: only the build's own files matter (not web/'s sources, packages or test output).
    // Not built yet: watch web/, whose contents change when `vite build` creates dist/.
    let watched = if built { &dist } else { &web };
    println!("cargo:rerun-if-changed={}", watched.display());
    println!(
        "cargo:rustc-env=OPSCONDUCTOR_WEB_BUILT={}",
        if built { "yes" } else { "no" }
    );
    let folder = if built {
        dist
    } else {
        let out =
            PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("web-not-built");
        std::fs::create_dir_all(&out).expect("creating the placeholder folder");
        std::fs::write(
            out.join("index.html"),
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>OpsConductor</title></head>\
             <body><h1>The web UI was not built</h1><p>This binary was compiled without <code>web/dist</code>. \
             Run <code>make web</code> (Node 20) and build again; the API under <code>/api/v1</code> works \
             without it.</p></body></html>\n",
        )
        .expect("writing the placeholder page");
        out
    };
    let folder = folder.canonicalize().expect("the web folder exists");
    println!("cargo:rustc-env=OPSCONDUCTOR_WEB_DIST={}", folder.display());
}
