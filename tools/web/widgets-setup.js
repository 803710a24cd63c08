// Loaded between require.js and the ipywidgets embedder (see _config.yml, nb_ipywidgets_js).

// 1. Resolve the embedder's modules, and the fonts it loads relative to them, inside this site
//    (_static/vendor/npm/) rather than on a CDN, so widgets render offline. Sphinx puts the relative
//    path to the site root in <html data-content_root="...">.
require.config({ baseUrl: (document.documentElement.dataset.content_root || "./") + "_static/vendor/npm/" });

// 2. The widget controls typeset their labels with the MathJax 2 API (MathJax.Hub.Queue); this site
//    uses MathJax 3. The embedder renders widgets on (or after) the page's load event, by which time
//    MathJax 3 has replaced its configuration object: give it the one call the controls make.
window.addEventListener("load", function () {
  if (window.MathJax && !window.MathJax.Hub) {
    window.MathJax.Hub = {
      Queue: function (job) {
        var element = Array.isArray(job) ? job[2] : undefined;
        if (window.MathJax.typesetPromise) {
          window.MathJax.typesetPromise(element ? [element] : undefined).catch(function () {});
        }
      },
    };
  }
});
