//! The embed widget's entry point: Trunk builds this binary from `www/embed.html` into
//! `dist/embed/` (see [`logspine_web::embed_view`]).

fn main() {
    yew::Renderer::<logspine_web::embed_view::EmbedApp>::new().render();
}
