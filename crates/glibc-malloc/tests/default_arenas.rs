//! Without `use_one_arena`, glibc gives a new thread an arena of its own,
//! in a mapping above the main heap: what `one_arena.rs` asserts against.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() {
    let thread = std::thread::spawn(|| Box::into_raw(Box::new([0u8; 512])) as usize);
    let address = thread.join().expect("the thread ends");
    let end = glibc_malloc::main_heap_end();
    assert!(
        address > end,
        "a thread allocated at {address:#x}, below the main heap's end {end:#x}"
    );
    println!("default_arenas: the thread's arena lies above the main heap");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {}
