//! After `use_one_arena`, a new thread's allocation comes from the main
//! arena: below the program break, not from a mapping of its own above it.
//! (`default_arenas.rs` shows the opposite without it, so this can fail.)

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() {
    assert!(glibc_malloc::use_one_arena(), "glibc refused M_ARENA_MAX");
    let addresses: Vec<usize> = (0..4)
        .map(|_| {
            let thread = std::thread::spawn(|| Box::into_raw(Box::new([0u8; 512])) as usize);
            thread.join().expect("the thread ends")
        })
        .collect();
    let end = glibc_malloc::main_heap_end();
    for a in &addresses {
        assert!(*a < end, "a thread allocated at {a:#x}, above the main heap's end {end:#x}");
    }
    println!("one_arena: {} threads allocated from the main arena", addresses.len());
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {}
