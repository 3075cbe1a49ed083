fn main() {
    println!("pyctx");
}
