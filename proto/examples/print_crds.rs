//! Prints the CustomResourceDefinitions of Flotilla's kinds as YAML-ish JSON
//! (`cargo run -p federation-proto --example print_crds`).
fn main() {
    for crd in federation_proto::crds() {
        println!("{}", serde_json::to_string_pretty(&crd).expect("json"));
    }
}
