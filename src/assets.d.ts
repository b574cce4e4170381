// Files built by build.ts and embedded in dist/bomfather (imported `with { type: "file" }`).
declare module "*.so" {
  const path: string;
  export default path;
}
declare module "*.o" {
  const path: string;
  export default path;
}
