//! The playground's entry point: Trunk builds this binary and loads it from
//! `www/index.html`.

fn main() {
    yew::Renderer::<logspine_web::app::App>::new().render();
}
