// A Probot app that handles pull_request.opened and does nothing with it: what Probot itself
// costs per delivery (signature check, parse, dispatch), nothing more.
export default (app) => {
  app.on("pull_request.opened", async () => {});
};
