/** The page: top bar, messages, the stage (photo and result, inversion progress) and the sidebar cards. */
import { useStore } from '../state/store';
import { AdvancedCard } from './AdvancedCard';
import { Banners } from './Banners';
import { Footer } from './Footer';
import { Header } from './Header';
import { PhotoCard } from './PhotoCard';
import { ProgressCard } from './ProgressCard';
import { SessionOffer } from './SessionOffer';
import { SlidersCard } from './SlidersCard';
import { Stage } from './Stage';
import { useWindowInput } from './useWindowInput';

export function App() {
  const dragging = useWindowInput();
  const phase = useStore((s) => s.phase);
  return (
    <div className={`app ${dragging ? 'dragging' : ''}`} data-testid="app" data-phase={phase}>
      <Header />
      <Banners />
      <SessionOffer />
      <main className="layout">
        <section className="stage" aria-label="editor">
          <Stage />
          <ProgressCard />
        </section>
        <aside className="sidebar">
          <PhotoCard />
          <SlidersCard />
          <AdvancedCard />
        </aside>
      </main>
      {dragging && <div className="drop-overlay">Drop a photo to edit it</div>}
      <Footer />
    </div>
  );
}
