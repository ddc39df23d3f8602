/* The widget manager typesets labels through the one MathJax 2 call
 * MathJax.Hub.Queue; the book loads MathJax 3. This gives MathJax 3 that call.
 * MathJax 3 replaces the global object when it starts, so the bridge is
 * installed again once it is ready. */
(function () {
  function hub() {
    return { Queue: function (job) {
      var el = job && job[2], mj = window.MathJax;
      if (!mj || !mj.typesetPromise) return;
      Promise.resolve(mj.startup && mj.startup.promise).then(function () {
        return mj.typesetPromise(el ? [el] : undefined);
      }).catch(function (err) { console.warn("MathJax could not typeset a widget label", err); });
    } };
  }
  var mj = window.MathJax = window.MathJax || {};
  if (mj.version) { if (!mj.Hub) mj.Hub = hub(); return; }
  mj.Hub = hub();
  mj.startup = mj.startup || {};
  var ready = mj.startup.ready;
  mj.startup.ready = function () {
    if (ready) { ready(); } else { window.MathJax.startup.defaultReady(); }
    if (!window.MathJax.Hub) window.MathJax.Hub = hub();
  };
})();
