// Many shapes of Rust v0 names (closures, trait impls, references, slices, tuples, arrays,
// const generics, fn pointers, dyn traits), for checking the demangler against binutils.
use std::fmt::Debug;
use std::hint::black_box;

pub trait Shape {
    fn area(&self) -> f64;
}

pub struct Square<const N: usize>(pub [u8; N]);

impl<const N: usize> Shape for Square<N> {
    #[inline(never)]
    fn area(&self) -> f64 { (N * N) as f64 }
}

#[inline(never)]
pub fn take_refs<'a>(a: &'a mut [u16], b: &'a str, c: (i8, u64, bool)) -> usize {
    a.len() + b.len() + c.0 as usize
}

#[inline(never)]
pub fn take_fn(f: fn(i32) -> i64, g: &dyn Fn(u8) -> u8, h: *const char, i: *mut Box<dyn Debug + Send>) -> i64 {
    f(1) + g(2) as i64 + h as i64 + i as i64
}

#[inline(never)]
pub fn generic<T: Debug, U>(t: T, _u: U) -> String { format!("{:?}", t) }

pub mod nested {
    pub mod deeper {
        #[inline(never)]
        pub fn run<F: FnOnce() -> u32>(f: F) -> u32 { f() }
    }
}

fn double(x: i32) -> i64 { x as i64 * 2 }

fn main() {
    let s = Square::<3>([1, 2, 3]);
    let shapes: Vec<Box<dyn Shape>> = vec![Box::new(s), Box::new(Square::<5>([0; 5]))];
    let total: f64 = shapes.iter().map(|s| s.area()).sum();
    let mut v = vec![1u16, 2];
    let n = take_refs(&mut v, "x", (1, 2, true));
    let add = |x: u8| x + 1;
    let mut b: Box<dyn Debug + Send> = Box::new(3u8);
    let m = take_fn(double, &add, std::ptr::null(), &mut b);
    let text = generic((1u8, [2i32; 4], "s"), Some(&3.5f32));
    let r = nested::deeper::run(|| black_box(7));
    println!("{} {} {} {} {}", total, n, m, text, r);
}
